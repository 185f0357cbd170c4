from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    name = "fincrm.security"
    label = "security"
    verbose_name = _("Security")

    def ready(self) -> None:
        import atexit

        from django.conf import settings
        from django.core import checks

        from fincrm.security import classification, keyring, masking

        # `fincrm check` (and every management command) refuses loosened masks and unclassified
        # personal-data fields.
        checks.register(masking.check_masks, checks.Tags.security)
        checks.register(classification.check_personal_data, checks.Tags.security)
        # `fincrm check --deploy` (production profile): the audit signing key and head export exist.
        from fincrm.security import checks as deploy_checks

        checks.register(deploy_checks.check_audit_signing_key, checks.Tags.security, deploy=True)
        checks.register(deploy_checks.check_audit_head_export, checks.Tags.security, deploy=True)

        if settings.FINCRM_PROFILE == "production":
            # Production refuses to start without a usable master key (environment or a 0600 file).
            keyring.keyring.use_provider(keyring.configured_provider())
        # Encryption counts kept in memory are written to their key rows when the process ends.
        atexit.register(keyring.flush_at_exit)
