"""One module per function: decode the event, call the service, answer Dapr."""
