from django.urls import path
from django.views.generic import RedirectView

from . import health_views, views

app_name = "dashboard"
urlpatterns = [
    path("", views.jobs, name="jobs"),
    path("jobs/", RedirectView.as_view(pattern_name="dashboard:jobs", query_string=True)),  # a trimmed job URL
    path("jobs/<str:job_id>/", views.job, name="job"),
    path("jobs/<str:job_id>/tasks/<str:task_id>/", views.task, name="task"),
    path("jobs/<str:job_id>/tasks/<str:task_id>/artifacts/<int:index>/", views.artifact, name="artifact"),
    path("task-definitions/", views.task_definitions_list, name="task-definitions"),
    path("health/", health_views.health, name="health"),
]
