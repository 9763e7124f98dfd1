"""Organizations (tenants) and their users, who sign in with their email address."""

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class Organization(models.Model):
    """A tenant. Nothing of one organization is ever visible to another."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # The last ticket number handed out; see helpdesk.tickets.services.ticket_create.
    last_ticket_number = models.PositiveIntegerField(default=0)
    # The AI's triage is applied to a ticket's fields (category, priority, queue) only when it is
    # at least this sure; below it, the verdict is kept as a suggestion for an agent.
    triage_auto_apply_threshold = models.FloatField(default=0.85)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Company(models.Model):
    """A customer's company inside an organization. When it shares tickets, its people see
    each other's tickets (and their public replies), never anything internal."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="companies"
    )
    name = models.CharField(max_length=200)
    shares_tickets = models.BooleanField(default=False)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["organization", "name"], name="company_name_per_org")
        ]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class Availability(models.TextChoices):
    AVAILABLE = "available", "Available"
    AWAY = "away", "Away"


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    AGENT = "agent", "Agent"
    CUSTOMER = "customer", "Customer"
    BOT = "bot", "Bot"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> "User":
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields.update(is_staff=True, is_superuser=True, role=Role.ADMIN)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="users", null=True, blank=True
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CUSTOMER)
    company = models.ForeignKey(
        Company, on_delete=models.SET_NULL, null=True, blank=True, related_name="people"
    )
    # Agents marked away are skipped by automatic assignment.
    availability = models.CharField(
        max_length=16, choices=Availability.choices, default=Availability.AVAILABLE
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["organization", "role"])]

    def __str__(self) -> str:
        return self.email

    @property
    def shared_company_id(self) -> int | None:
        """The company whose tickets this customer may see, if it shares them."""
        company = self.company
        return company.pk if company is not None and company.shares_tickets else None

    @property
    def is_staff_member(self) -> bool:
        """Agents and admins work tickets; customers and bots do not see internal work."""
        return self.role in {Role.ADMIN, Role.AGENT}


class ApiTokenInfo(models.Model):
    """What knox's token lacks: a name, scopes, and when it was last used (kept to the minute)."""

    token = models.OneToOneField(
        "knox.AuthToken", on_delete=models.CASCADE, primary_key=True, related_name="info"
    )
    name = models.CharField(max_length=100, blank=True)
    scopes = models.JSONField(default=list)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name or str(self.token_id)
