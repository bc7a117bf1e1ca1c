"""Job manager: the core (domain, store, AWS adapters, services) and the Django project."""
