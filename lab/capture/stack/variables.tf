# Inputs of the lab stack. The secrets are dummies, but marked sensitive so
# the captures show how Terraform carries sensitive values.
variable "db_password" {
  type      = string
  sensitive = true
  default   = "lab-db-password-0001"
}

variable "api_token" {
  type      = string
  sensitive = true
  default   = "lab-api-token-0001"
}

variable "queues" {
  description = "for_each keys of the queue module (string keys)"
  type        = set(string)
  default     = ["orders", "refunds"]
}

variable "subnet_cidrs" {
  description = "one subnet per entry (count)"
  type        = list(string)
  default     = ["10.90.1.0/24", "10.90.2.0/24"]
}
