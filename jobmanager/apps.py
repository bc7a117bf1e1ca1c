from django.apps import AppConfig


class JobManagerConfig(AppConfig):
    name = "jobmanager"
    verbose_name = "Job manager"
