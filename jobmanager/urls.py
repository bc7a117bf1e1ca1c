from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:jobs", permanent=False)),
    path("", include("api.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    # The OpenAPI schema is public: it documents the API, it holds no data (api/openapi.py).
    path("api/schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]

handler404 = "api.exceptions.not_found"
