from django.utils.translation import gettext_lazy as _

from fincrm.audit.registry import EventCode, register

register(
    EventCode("customer.created", _("Customer created")),
    EventCode("customer.updated", _("Customer changed")),
    EventCode("customer.viewed", _("Customer 360 opened")),
    EventCode("customer.lifecycle.changed", _("Customer lifecycle stage changed")),
    EventCode("customer.coverage.changed", _("Customer transferred between managers")),
    EventCode("customer.tagged", _("Customer tags changed")),
    EventCode("customer.merged", _("Customers merged")),
    EventCode("customer.exported", _("Customer list exported")),
    EventCode("customer.searched", _("Customer searched by identifier")),
)

# Customer core: coverage by secondary managers
register(
    EventCode("customer.secondary_manager.added", _("Secondary account manager added")),
    EventCode("customer.secondary_manager.removed", _("Secondary account manager removed")),
)

# Customer lists: saved views and exports
register(
    EventCode("customer.saved_view.saved", _("Saved customer view saved")),
    EventCode("customer.saved_view.deleted", _("Saved customer view deleted")),
    EventCode("customer.export.requested", _("Approval of a large customer export requested")),
    EventCode("customer.export.approved", _("Large customer export approved")),
    EventCode("customer.export.rejected", _("Large customer export refused by the approver")),
    EventCode("customer.export.downloaded", _("Customer export downloaded")),
)

# Tags, custom fields, relationships, households and corporate groups
register(
    EventCode("customer.tag.created", _("Tag defined")),
    EventCode("customer.tag.updated", _("Tag changed")),
    EventCode("customer.tagged.bulk", _("Customers tagged in bulk")),
    EventCode("customer.field.created", _("Custom field defined")),
    EventCode("customer.field.updated", _("Custom field changed")),
    EventCode("customer.field.deleted", _("Custom field deleted")),
    EventCode("customer.custom_values.changed", _("Customer custom field values changed")),
    EventCode("customer.relationship.added", _("Customer relationship added")),
    EventCode("customer.relationship.ended", _("Customer relationship ended")),
    EventCode("customer.household.created", _("Household created")),
    EventCode("customer.household.member_added", _("Household member added")),
    EventCode("customer.household.member_removed", _("Household member removed")),
    EventCode("customer.group.changed", _("Parent company changed")),
)

# Duplicates and merge
register(
    EventCode("customer.duplicates.detected", _("Duplicate customers detected")),
    EventCode("customer.duplicate.dismissed", _("Duplicate candidate dismissed as not a duplicate")),
)
