"""One view per operation: parse input, call one service, render the result."""

from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobmanager.domain.events import Source
from jobmanager.services import control, health, jobs, queries, task_definitions

from . import serializers as s
from .authentication import tenant_of
from .strict import validated as _valid  # strings must be strings, then the serializer


class JobListCreateView(APIView):
    """`GET /jobs` lists jobs newest first (`?status=&limit=&cursor=`);
    `POST /jobs` submits a job: `{"name", "tasks": [{"taskId", "taskDefinition", "input", "dependsOn"}], "metadata"}`.
    Send an `Idempotency-Key` header to make a retried submission return the first job."""

    def get(self, request: Request) -> Response:
        params = _valid(s.ListJobsInput, request.query_params)
        page = queries.list_jobs(tenant_id=tenant_of(request), **params)
        return Response({"jobs": page.items, "nextCursor": page.next_cursor})

    def post(self, request: Request) -> Response:
        data = _valid(s.CreateJobInput, request.data)
        result = jobs.create_job(
            tenant_id=tenant_of(request),
            name=data["name"],
            tasks=s.task_specs(data["tasks"]),
            metadata=data["metadata"],
            max_budget_usd=data["maxBudgetUsd"],
            idempotency_key=request.headers.get("Idempotency-Key") or None,
            source=Source.API,
        )
        replayed = result.pop("replayed")
        return Response(result, status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED)


class JobDetailView(APIView):
    """`GET /jobs/{jobId}`: the job and its tasks (`?taskLimit=&cursor=` to page through big jobs)."""

    def get(self, request: Request, job_id: str) -> Response:
        params = _valid(s.GetJobInput, request.query_params)
        return Response(
            queries.get_job(
                tenant_id=tenant_of(request), job_id=job_id, task_limit=params.get("taskLimit"),
                cursor=params.get("cursor"),
            )
        )


class JobTasksView(APIView):
    """`POST /jobs/{jobId}/tasks`: add tasks to a running job; they may depend on existing tasks."""

    def post(self, request: Request, job_id: str) -> Response:
        data = _valid(s.AddTasksInput, request.data)
        result = jobs.add_tasks(tenant_id=tenant_of(request), job_id=job_id, tasks=s.task_specs(data["tasks"]))
        return Response(result, status=status.HTTP_201_CREATED)


class TaskDefinitionListView(APIView):
    """`GET /task-definitions`: every task definition."""

    def get(self, request: Request) -> Response:
        return Response({"taskDefinitions": [d.to_dict() for d in task_definitions.list_task_definitions()]})


class TaskDefinitionDetailView(APIView):
    """`PUT /task-definitions/{name}`: create or replace a definition (`kind`: `agent` or `command`)."""

    def put(self, request: Request, name: str) -> Response:
        data = _valid(s.TaskDefinitionInput, request.data, name=name)
        definition, created = task_definitions.put_task_definition(tenant_id=tenant_of(request), name=name, body=data)
        return Response(definition.to_dict(), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class TaskHealthView(APIView):
    """`GET /health/tasks/{requestId}`: the health of the task that requestId belongs to
    (level, reason, elapsed vs timeout, last heartbeat). Read-only: it alerts nobody."""

    def get(self, request: Request, request_id: str) -> Response:
        return Response(health.check_request(request_id, tenant_id=tenant_of(request)))


class JobCancelView(APIView):
    """`POST /jobs/{jobId}/cancel`: cancel a running job. Pending and queued tasks are
    cancelled now; running ones are stopped by their workers (`stopping`), so the answer is
    202 while any still runs, else 200. Cancelling a cancelled job repeats nothing (200);
    a completed or failed job gives 409."""

    def post(self, request: Request, job_id: str) -> Response:
        result = control.cancel_job(tenant_id=tenant_of(request), job_id=job_id, source=Source.API)
        stopping = bool(result["stopping"]) and not result["alreadyCancelled"]
        return Response(result, status=status.HTTP_202_ACCEPTED if stopping else status.HTTP_200_OK)


class TaskRetryView(APIView):
    """`POST /jobs/{jobId}/tasks/{taskId}/retry`: run a failed task again (or a timed-out or
    cancelled one while its job runs), with the tasks skipped because of it; a failed job
    runs again. 202: the task is queued (or waits on its dependencies); 409 when its state
    doesn't allow a retry."""

    def post(self, request: Request, job_id: str, task_id: str) -> Response:
        result = control.retry_task(tenant_id=tenant_of(request), job_id=job_id, task_id=task_id)
        return Response(result, status=status.HTTP_202_ACCEPTED)
