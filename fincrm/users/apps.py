from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class UsersConfig(AppConfig):
    name = "fincrm.users"
    label = "users"
    verbose_name = _("Users and access")

    def ready(self) -> None:
        from fincrm.org.members import register_team_member_provider
        from fincrm.users.roles import sync_builtin_roles
        from fincrm.users.selectors.accounts import team_member_list

        # The org pages list a team's members without the org app importing the users app.
        register_team_member_provider(team_member_list)

        # Built-in roles are defined in code (users/roles.py) and kept in step after every migrate.
        post_migrate.connect(sync_builtin_roles, sender=self, dispatch_uid="fincrm.users.sync_builtin_roles")
