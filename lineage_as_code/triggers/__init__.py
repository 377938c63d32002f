"""Object-store event entry points: S3 notifications on AWS Lambda, Cloud Storage CloudEvents on Cloud
Functions, Event Grid BlobCreated on Azure Functions, all sharing ``events.handle_event``."""
