from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "fincrm.audit"
    label = "audit"
    verbose_name = _("Audit")

    def ready(self) -> None:
        from fincrm.audit import services
        from fincrm.platform import hooks

        hooks.install(audit=services.audit_record, security=services.security_event_record)
