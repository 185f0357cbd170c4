from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class UsersConfig(AppConfig):
    name = "fincrm.users"
    label = "users"
    verbose_name = _("Users and access")

    def ready(self) -> None:
        from fincrm.users.roles import sync_builtin_roles

        # Built-in roles are defined in code (users/roles.py) and kept in step after every migrate.
        post_migrate.connect(sync_builtin_roles, sender=self, dispatch_uid="fincrm.users.sync_builtin_roles")
