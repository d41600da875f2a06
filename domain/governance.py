"""Per-tenant retention and privacy policy (policy §5; Pumuki's governance switches)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Governance", "PrivacySettings", "RetentionPolicy"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class RetentionPolicy(BaseModel):
    """How long each kind of tenant data is kept (days)."""

    model_config = _FROZEN
    audit_days: int = Field(90, gt=0)
    metrics_days: int = Field(365, gt=0)
    contracts_days: int = Field(30, gt=0)


class PrivacySettings(BaseModel):
    """Redaction switches; redacting the tenant requires redacting the repository."""

    model_config = _FROZEN
    redact_tenant_id: bool = False
    redact_repository_id: bool = False
    hash_payload_hashes: bool = False
    allow_raw_path_labels: bool = True

    @model_validator(mode="after")
    def _tenant_implies_repository(self) -> PrivacySettings:
        if self.redact_tenant_id and not self.redact_repository_id:
            raise ValueError("redact_tenant_id requires redact_repository_id")
        return self


class Governance(BaseModel):
    """A tenant's retention and privacy policy, mandatory before it receives records."""

    model_config = _FROZEN
    retention: RetentionPolicy = RetentionPolicy()
    privacy: PrivacySettings = PrivacySettings()
