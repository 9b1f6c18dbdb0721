terraform {
  required_version = ">= 1.11.0"

  # Remote state in Azure Storage with Entra ID auth (no storage keys). Values in
  # backend.hcl (see backend.hcl.example): `tofu init -backend-config=backend.hcl`.
  backend "azurerm" {}

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.2"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.2"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.2"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.9"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}
