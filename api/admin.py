from django.contrib import admin, messages
from django.utils import timezone

from .models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant_id", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("tenant_id",)
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    fields = ("name", "tenant_id", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw = ApiKey.issue(name=obj.name, tenant_id=obj.tenant_id)
        obj.pk = key.pk
        obj.refresh_from_db()
        messages.warning(request, f"New API key (shown once, copy it now): {raw}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).")
