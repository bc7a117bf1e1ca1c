from django.contrib.auth.decorators import login_not_required
from django.urls import path

from . import views


def _open(view):
    # API views authenticate with API keys (or a session for the browsable API),
    # not through the dashboard's login redirect.
    return login_not_required(view.as_view())


app_name = "api"
urlpatterns = [
    path("jobs", _open(views.JobListCreateView), name="jobs"),
    path("jobs/<str:job_id>", _open(views.JobDetailView), name="job"),
    path("jobs/<str:job_id>/tasks", _open(views.JobTasksView), name="job-tasks"),
    path("jobs/<str:job_id>/cancel", _open(views.JobCancelView), name="job-cancel"),
    path("jobs/<str:job_id>/tasks/<str:task_id>/retry", _open(views.TaskRetryView), name="task-retry"),
    path("task-definitions", _open(views.TaskDefinitionListView), name="task-definitions"),
    path("task-definitions/<str:name>", _open(views.TaskDefinitionDetailView), name="task-definition"),
    path("health/tasks/<str:request_id>", _open(views.TaskHealthView), name="task-health"),
]
