from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "fincrm.privacy"
    label = "privacy"
    verbose_name = _("Privacy and consent")

    def ready(self) -> None:
        from fincrm.privacy import integrations

        integrations.register()
