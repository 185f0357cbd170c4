"""Customers: parties, their identity and KYC profile, coverage, tags, custom fields, search terms."""

from fincrm.customers.models.coverage import CoverageChange, LifecycleChange, SecondaryManager
from fincrm.customers.models.custom_fields import CustomFieldDefinition, CustomFieldValue
from fincrm.customers.models.duplicates import DuplicateCandidate, MergeRecord
from fincrm.customers.models.party import (
    AmlRiskRating,
    Customer,
    CustomerKind,
    CustomerStatus,
    Gender,
    Household,
    HouseholdMember,
    IdentityDocument,
    IdType,
    IncomeBand,
    LifecycleStage,
    Relationship,
    RiskTolerance,
    SourceChannel,
    ValueTier,
)
from fincrm.customers.models.saved_views import SavedView
from fincrm.customers.models.search import CustomerSearchTerm
from fincrm.customers.models.tags import CustomerTag, Tag

__all__ = [
    "AmlRiskRating",
    "CoverageChange",
    "CustomFieldDefinition",
    "CustomFieldValue",
    "Customer",
    "CustomerKind",
    "CustomerSearchTerm",
    "CustomerStatus",
    "CustomerTag",
    "DuplicateCandidate",
    "Gender",
    "Household",
    "HouseholdMember",
    "IdType",
    "IdentityDocument",
    "IncomeBand",
    "LifecycleChange",
    "LifecycleStage",
    "MergeRecord",
    "Relationship",
    "RiskTolerance",
    "SavedView",
    "SecondaryManager",
    "SourceChannel",
    "Tag",
    "ValueTier",
]
