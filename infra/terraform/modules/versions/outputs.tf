output "pins" {
  description = "Map of component name to the pinned chart or image version."
  value       = local.pins
}
