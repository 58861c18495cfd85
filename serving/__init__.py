"""The gRPC attention service (installed as `aib_deploy.serving`)."""
