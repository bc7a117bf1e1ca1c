from django.contrib.auth.decorators import login_not_required
from django.urls import path
from django.views.generic import RedirectView

from . import actions, definition_views, health_views, views

app_name = "dashboard"
# "_new" and "_preview" can't be definition names (a name starts with a letter or digit).
urlpatterns = [
    path("", views.jobs, name="jobs"),
    path("jobs/", RedirectView.as_view(pattern_name="dashboard:jobs", query_string=True)),  # a trimmed job URL
    path("login/", login_not_required(RedirectView.as_view(pattern_name="login", query_string=True))),  # guessed
    path("jobs/<str:job_id>/", views.job, name="job"),
    path("jobs/<str:job_id>/cancel/", actions.cancel_job, name="job-cancel"),
    path("jobs/<str:job_id>/add-tasks/", actions.add_tasks, name="job-add-tasks"),
    path("jobs/<str:job_id>/tasks/<str:task_id>/", views.task, name="task"),
    path("jobs/<str:job_id>/tasks/<str:task_id>/prompt/", views.task_prompt, name="task-prompt"),
    path("jobs/<str:job_id>/tasks/<str:task_id>/retry/", actions.retry_task, name="task-retry"),
    path("jobs/<str:job_id>/tasks/<str:task_id>/artifacts/<int:index>/", views.artifact, name="artifact"),
    path("jobs/<str:job_id>/tasks/<str:task_id>/files/<str:event_id>/<str:field>/", views.task_file, name="task-file"),
    path("task-definitions/", definition_views.task_definitions_list, name="task-definitions"),
    path("task-definitions/_new/", definition_views.create, name="task-definition-new"),
    path("task-definitions/_preview/", definition_views.preview, name="task-definition-preview"),
    path("task-definitions/<str:name>/", definition_views.edit, name="task-definition"),
    path("health/", health_views.health, name="health"),
]
