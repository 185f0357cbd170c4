"""Every write to customers: one module per area (profile, tags, custom_fields, relationships,
saved_views, exports, merge …), each function ``<entity>_<action>(*, actor, …)``."""
