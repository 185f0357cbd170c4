"""The one scoping mechanism: ``Model.objects.visible_to(actor, action)``.

A scoped model says, for each data scope, which of its rows an actor reaches, as a Q built
from EXISTS subqueries (never a join or DISTINCT: they break counts and select_for_update).
visible_to() ORs the conditions of every scope the actor's roles grant for the action, so
several roles give the union.
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any, Protocol, Self

from django.db import models
from django.db.models import Q

from fincrm.platform.actor import Actor, Scope

# Returned by a scope_condition that reaches every row (a subtree rooted at the institution):
# visible_to() then adds no predicate at all, rather than an OR the planner cannot see through.
EVERYTHING = Q(pk__isnull=False)


class ScopedModel(Protocol):
    @classmethod
    def scope_condition(cls, scope: Scope, actor: Actor) -> Q: ...


class ScopedQuerySet(models.QuerySet[Any]):
    def visible_to(self, actor: Actor, action: str) -> Self:
        scopes = actor.scopes_for(action)
        if not scopes:
            return self.none()
        if Scope.INSTITUTION in scopes:
            return self.all()
        model: Any = self.model
        conditions = [model.scope_condition(scope, actor) for scope in sorted(scopes)]
        if any(condition is EVERYTHING for condition in conditions):
            return self.all()
        return self.filter(reduce(operator.or_, conditions))


ScopedManager = models.Manager.from_queryset(ScopedQuerySet)
