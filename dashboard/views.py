from django.http import HttpResponse


def jobs(request):
    return HttpResponse("dashboard")
