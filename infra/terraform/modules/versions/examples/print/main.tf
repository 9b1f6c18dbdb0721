# Read the pins, for example to pass the Dapr version to the AKS extension.

terraform {
  required_version = ">= 1.11.0"
}

module "versions" {
  source = "../.."
}

output "dapr" {
  value = module.versions.pins.dapr
}
