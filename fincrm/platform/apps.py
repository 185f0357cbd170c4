from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class PlatformConfig(AppConfig):
    name = "fincrm.platform"
    label = "platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        # Every app declares its permissions and audit event codes in modules of these names;
        # loading them here fills the registries without platform importing any app.
        autodiscover_modules("permissions", "audit_events", "jobs")
