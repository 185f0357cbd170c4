"""Abstract bases shared by every app, and the platform's own tables: jobs, schedules, outbox."""

from __future__ import annotations

from django.db import models


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    class Meta:
        abstract = True


class Job(models.Model):
    """One background job (fincrm.platform.jobs). ``payload`` holds ids only, never clear personal data."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"  # failed at least once, waiting for its next attempt
        DEAD = "dead", "dead"  # gave up after max_attempts

    # The registered job's dotted name ("task", not "name": a bare "name" field reads as personal data).
    task = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    run_after = models.DateTimeField()
    locked_by = models.CharField(max_length=100, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    # The exception's class and where it was raised: never its message (it may quote data).
    last_error = models.CharField(max_length=500, blank=True)
    dedupe_key = models.CharField(max_length=200, blank=True)  # "" = none
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "run_after"], name="platform_job_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=models.Q(status__in=["queued", "running", "failed"]) & ~models.Q(dedupe_key=""),
                name="platform_job_dedupe_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task}#{self.pk} ({self.status})"


class Schedule(models.Model):
    """The state of one periodic job (declared in code with ``@periodic``)."""

    task = models.CharField(max_length=100, unique=True)  # the periodic job's dotted name
    every_seconds = models.PositiveIntegerField(null=True, blank=True)
    daily_at = models.TimeField(null=True, blank=True)  # local time (settings.TIME_ZONE)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.task


class OutboxEvent(models.Model):
    """A domain event written in the same transaction as the change; ``payload`` holds ids only."""

    topic = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["dispatched_at", "id"], name="platform_outbox_pending")]

    def __str__(self) -> str:
        return f"{self.topic}#{self.pk}"


class OutboxDelivery(models.Model):
    """One handler's done-mark for one event, committed together with the handler's effect."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    handler = models.CharField(max_length=100)
    done_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "handler"], name="platform_outbox_delivery_once")
        ]

    def __str__(self) -> str:
        return f"{self.event_id}:{self.handler}"
