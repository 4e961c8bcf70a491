"""Writes for providers, credentials and scope rules.

Credentials are checked here (dates in order, licences tied to a jurisdiction, endorsements only
for acts the discipline may perform somewhere) so the API and the admin refuse the same input
with the same field errors. Every scope-rule change is written to ``ScopeRuleChange`` in the same
transaction as the change itself.
"""

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction

from clinic.errors import FieldProblem, ValidationProblem
from providers.models import Act, Credential, Discipline, Provider, ScopeRule, ScopeRuleChange

RULE_FIELDS = ("allowed", "requires_endorsement", "note")


def credential_problems(
    *,
    discipline: Discipline,
    kind: str,
    jurisdiction: str,
    valid_from: date | None,
    valid_until: date | None,
    endorsements: Iterable[Act],
) -> list[FieldProblem]:
    """What is wrong with a credential for a provider of ``discipline``; empty when it is fine."""
    problems = []
    if valid_from and valid_until and valid_until < valid_from:
        problems.append(
            FieldProblem(
                "valid_until",
                "dates_inverted",
                f"The credential ends ({valid_until:%Y-%m-%d}) before it starts "
                f"({valid_from:%Y-%m-%d}).",
            )
        )
    if kind in (Credential.Kind.LICENCE, Credential.Kind.REGISTRATION) and not jurisdiction:
        problems.append(
            FieldProblem(
                "jurisdiction",
                "jurisdiction_required",
                "A licence or registration is issued for one jurisdiction, e.g. CA-ON.",
            )
        )
    acts = list(endorsements)
    if acts:
        possible = set(
            ScopeRule.objects.filter(discipline=discipline, act__in=acts, allowed=True).values_list(
                "act_id", flat=True
            )
        )
        for act in acts:
            if act.pk not in possible:
                problems.append(
                    FieldProblem(
                        "endorsements",
                        "endorsement_outside_discipline",
                        f"{act.name} is not something a {discipline.name.lower()} may do in any "
                        "jurisdiction, so it cannot be endorsed.",
                    )
                )
    return problems


def _check_credential(provider: Provider, data: dict[str, Any]) -> None:
    problems = credential_problems(
        discipline=provider.discipline,
        kind=data.get("kind", ""),
        jurisdiction=data.get("jurisdiction", ""),
        valid_from=data.get("valid_from"),
        valid_until=data.get("valid_until"),
        endorsements=data.get("endorsements", []),
    )
    if problems:
        raise ValidationProblem("The credential is not valid.", problems)


@transaction.atomic
def create_credential(provider: Provider, **data: Any) -> Credential:
    """Add a credential (``endorsements`` is an iterable of ``Act``)."""
    _check_credential(provider, data)
    endorsements = list(data.pop("endorsements", []))
    credential = Credential.objects.create(provider=provider, **data)
    credential.endorsements.set(endorsements)
    return credential


@transaction.atomic
def update_credential(credential: Credential, **data: Any) -> Credential:
    """Change a credential; fields not given keep their value."""
    merged = {
        "kind": credential.kind,
        "jurisdiction": credential.jurisdiction,
        "valid_from": credential.valid_from,
        "valid_until": credential.valid_until,
        "endorsements": list(credential.endorsements.all()),
        **data,
    }
    provider = data.get("provider", credential.provider)
    _check_credential(provider, merged)
    endorsements = data.pop("endorsements", None)
    for name, value in data.items():
        setattr(credential, name, value)
    credential.save()
    if endorsements is not None:
        credential.endorsements.set(endorsements)
    return credential


def _endorsements_outside(provider: Provider, discipline: Discipline) -> list[FieldProblem]:
    problems = []
    for credential in provider.credentials.prefetch_related("endorsements"):
        problems += [
            FieldProblem("discipline", p.code, p.message)
            for p in credential_problems(
                discipline=discipline,
                kind=credential.kind,
                jurisdiction=credential.jurisdiction,
                valid_from=None,
                valid_until=None,
                endorsements=credential.endorsements.all(),
            )
        ]
    return problems


@transaction.atomic
def create_provider(*, locations: Iterable = (), **data: Any) -> Provider:
    provider = Provider.objects.create(**data)
    provider.locations.set(list(locations))
    return provider


@transaction.atomic
def update_provider(
    provider: Provider, *, locations: Iterable | None = None, **data: Any
) -> Provider:
    """Change a provider; a new discipline must still cover every endorsement they hold."""
    discipline = data.get("discipline")
    if discipline is not None and discipline != provider.discipline:
        problems = _endorsements_outside(provider, discipline)
        if problems:
            raise ValidationProblem(
                "The provider holds endorsements the new discipline cannot perform.", problems
            )
    for name, value in data.items():
        setattr(provider, name, value)
    provider.save()
    if locations is not None:
        provider.locations.set(list(locations))
    return provider


def _rule_state(rule: ScopeRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in RULE_FIELDS}


def _record(rule: ScopeRule | None, action: str, before, after, actor, channel: str, keys) -> None:
    discipline_code, act_code, jurisdiction = keys
    ScopeRuleChange.objects.create(
        rule=rule,
        discipline_code=discipline_code,
        act_code=act_code,
        jurisdiction=jurisdiction,
        action=action,
        before=before,
        after=after,
        changed_by=actor if actor is not None and actor.is_authenticated else None,
        changed_by_label=actor.get_username() if actor is not None else "",
        channel=channel,
    )


DUPLICATE_RULE = FieldProblem(
    "jurisdiction",
    "duplicate_rule",
    "There is already a rule for this discipline, act and jurisdiction; change it.",
)


def rule_problems(rule: ScopeRule) -> list[FieldProblem]:
    """What is wrong with a (new or edited) scope rule; empty when it is fine."""
    problems = []
    if rule.requires_endorsement and not rule.allowed:
        problems.append(
            FieldProblem(
                "requires_endorsement",
                "endorsement_on_forbidden_act",
                "A forbidden act cannot also need an endorsement; allow it or clear the "
                "endorsement.",
            )
        )
    clash = ScopeRule.objects.filter(
        discipline_id=rule.discipline_id, act_id=rule.act_id, jurisdiction=rule.jurisdiction
    ).exclude(pk=rule.pk)
    if clash.exists():
        problems.append(DUPLICATE_RULE)
    return problems


@transaction.atomic
def save_scope_rule(rule: ScopeRule, *, actor, channel: str) -> ScopeRule:
    """Create or change a scope rule (the unsaved or edited instance) and keep its history."""
    problems = rule_problems(rule)
    if problems:
        raise ValidationProblem("The scope rule is not valid.", problems)
    before = None
    if rule.pk:
        stored = ScopeRule.objects.select_for_update().filter(pk=rule.pk).first()
        before = _rule_state(stored) if stored else None
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        # Another manager added the same rule after the check above: the constraint decides.
        raise ValidationProblem("The scope rule is not valid.", [DUPLICATE_RULE]) from exc
    after = _rule_state(rule)
    if before == after:
        return rule
    action = ScopeRuleChange.Action.CREATE if before is None else ScopeRuleChange.Action.UPDATE
    keys = (rule.discipline.code, rule.act.code, rule.jurisdiction)
    _record(rule, action, before, after, actor, channel, keys)
    return rule


@transaction.atomic
def delete_scope_rule(rule: ScopeRule, *, actor, channel: str) -> None:
    """Delete a rule; the history keeps what it said."""
    keys = (rule.discipline.code, rule.act.code, rule.jurisdiction)
    before = _rule_state(rule)
    rule.delete()
    _record(None, ScopeRuleChange.Action.DELETE, before, None, actor, channel, keys)
