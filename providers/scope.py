"""The scope-of-practice decision: may provider P perform act A at location L at time T?

Every entry point (offering a service, booking, rescheduling, diagnosing, authoring a care plan,
prescribing an exercise) asks here, so there is exactly one answer and it carries its reasons.

How the answer is reached, for the location's jurisdiction J:

1. The act must exist (``unknown_act``) and the provider must be active (``provider_inactive``).
2. The scope rule for (discipline, act) is the J override if there is one, else the default rule.
   No rule, or a default rule that forbids, is ``act_not_in_discipline``; an override that
   forbids is ``forbidden_in_jurisdiction``.
3. The provider needs a credential of a kind the discipline's requirement accepts in J (again an
   override or the default), issued for J or for no jurisdiction (a certification valid
   everywhere), ``active`` and in date at T. Otherwise the reasons say why: ``no_credential``,
   ``credential_other_jurisdiction``, ``credential_suspended``, ``credential_revoked``,
   ``credential_not_yet_valid``, ``credential_expired``.
4. If the rule needs an endorsement, one of those current credentials must carry it
   (``endorsement_missing``).

Expiry boundary: credential dates are calendar days in the location's time zone. A credential
valid until D covers care that *starts* on or before the last instant of D there (23:59:59.999
local); care starting at 00:00 local on D+1 is refused. Likewise valid from D covers care from
00:00 local on D. The same instant can therefore be covered in Toronto and not in Vancouver.

The bulk form (``load_scope_index``) reads everything in a fixed number of queries (six, however
many providers and acts), and the single form is the bulk form with one provider, so both always
give the same answer.
"""

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from providers.errors import OutOfScope
from providers.models import Act, Credential, CredentialRequirement, Provider, ScopeRule

ACT_NOT_IN_DISCIPLINE = "act_not_in_discipline"
FORBIDDEN_IN_JURISDICTION = "forbidden_in_jurisdiction"
ENDORSEMENT_MISSING = "endorsement_missing"
NO_CREDENTIAL = "no_credential"
CREDENTIAL_SUSPENDED = "credential_suspended"
CREDENTIAL_REVOKED = "credential_revoked"
CREDENTIAL_NOT_YET_VALID = "credential_not_yet_valid"
CREDENTIAL_EXPIRED = "credential_expired"
CREDENTIAL_OTHER_JURISDICTION = "credential_other_jurisdiction"
PROVIDER_INACTIVE = "provider_inactive"
UNKNOWN_ACT = "unknown_act"

REASON_CODES = (
    ACT_NOT_IN_DISCIPLINE,
    FORBIDDEN_IN_JURISDICTION,
    ENDORSEMENT_MISSING,
    NO_CREDENTIAL,
    CREDENTIAL_SUSPENDED,
    CREDENTIAL_REVOKED,
    CREDENTIAL_NOT_YET_VALID,
    CREDENTIAL_EXPIRED,
    CREDENTIAL_OTHER_JURISDICTION,
    PROVIDER_INACTIVE,
    UNKNOWN_ACT,
)

ALL_KINDS = frozenset(str(k) for k in Credential.Kind)


@dataclass(frozen=True)
class ScopeReason:
    """Why an act is refused: a stable ``code`` for programs, a ``message`` for people.

    ``act`` names the act the reason is about; it is blank for reasons about the provider or
    their credentials, which hold for every act.
    """

    code: str
    message: str
    act: str = ""


@dataclass(frozen=True)
class ScopeDecision:
    allowed: bool
    reasons: tuple[ScopeReason, ...] = ()

    def __bool__(self) -> bool:
        """``if decide(...)`` means "if allowed" (a refusal is never truthy by accident)."""
        return self.allowed

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons)

    def raise_if_refused(self, field: str = "provider") -> None:
        """Raise ``OutOfScope`` naming ``field``, with one field error per reason."""
        if not self.allowed:
            raise OutOfScope([(r.code, r.message) for r in self.reasons], field=field)


@dataclass(frozen=True)
class _Credential:
    kind: str
    label: str
    jurisdiction: str
    valid_from: date
    valid_until: date | None
    status: str
    endorsements: frozenset[int]


@dataclass(frozen=True)
class _Provider:
    name: str
    discipline_id: int
    discipline_name: str
    is_active: bool
    credentials: tuple[_Credential, ...]


def _local_date(location, at: datetime) -> date:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("Scope decisions need an aware datetime (store UTC, judge locally).")
    return at.astimezone(ZoneInfo(location.timezone)).date()


def _kinds_label(kinds: Iterable[str]) -> str:
    names = sorted(kinds)
    if len(names) <= 1:
        return "".join(names) or "credential"
    return ", ".join(names[:-1]) + " or " + names[-1]


class ScopeIndex:
    """Everything needed to decide scope for some providers in one jurisdiction, held in memory.

    Build it with ``load_scope_index``; ``decide_acts`` then runs no query at all, so an
    availability search may ask it for every candidate slot.
    """

    def __init__(
        self,
        jurisdiction: str,
        act_codes: frozenset[str] | None,
        acts: dict[str, tuple[int, str]],
        providers: dict[int, _Provider],
        rules: dict[tuple[int, int], ScopeRule],
        requirements: dict[int, frozenset[str]],
    ):
        self.jurisdiction = jurisdiction
        self._act_codes = act_codes
        self._acts = acts
        self._providers = providers
        self._rules = rules
        self._requirements = requirements

    def change_days(self, provider_id: int, first: date, last: date) -> list[date]:
        """The local days in (first, last] at whose 00:00 a decision for the provider may change.

        Time enters scope only through credential dates: a credential starts counting on its
        ``valid_from`` and stops the day after its ``valid_until``. A caller deciding many instants
        (the availability search) asks once per span instead of once per slot.
        """
        days: set[date] = set()
        for credential in self._providers[provider_id].credentials:
            ends = credential.valid_until and credential.valid_until + timedelta(days=1)
            days.update(d for d in (credential.valid_from, ends) if d and first < d <= last)
        return sorted(days)

    def decide_acts(
        self, provider_id: int, act_codes: Iterable[str], location, at: datetime
    ) -> ScopeDecision:
        """May the provider perform every one of ``act_codes`` at ``location`` at ``at``?"""
        if location.jurisdiction != self.jurisdiction:
            raise ValueError(
                f"This index was loaded for {self.jurisdiction}, not {location.jurisdiction}."
            )
        provider = self._providers.get(provider_id)
        if provider is None:
            raise LookupError(f"Provider {provider_id} was not loaded into this scope index.")
        codes = list(dict.fromkeys(act_codes))
        if self._act_codes is not None and not set(codes) <= self._act_codes:
            missing = ", ".join(sorted(set(codes) - self._act_codes))
            raise ValueError(f"Acts not loaded into this scope index: {missing}.")
        on = _local_date(location, at)
        reasons: list[ScopeReason] = []
        if not provider.is_active:
            reasons.append(
                ScopeReason(PROVIDER_INACTIVE, f"{provider.name} is not an active provider.")
            )
        for code in codes:
            reasons += self._act_reasons(provider, code, location, on)
        unique = tuple(dict.fromkeys(reasons))
        return ScopeDecision(allowed=not unique, reasons=unique)

    def _act_reasons(self, provider: _Provider, code: str, location, on: date) -> list[ScopeReason]:
        jurisdiction = self.jurisdiction
        act = self._acts.get(code)
        if act is None:
            return [ScopeReason(UNKNOWN_ACT, f"'{code}' is not a known act.", code)]
        act_id, act_name = act
        rule = self._rules.get((provider.discipline_id, act_id))
        if rule is None or (not rule.allowed and not rule.jurisdiction):
            return [
                ScopeReason(
                    ACT_NOT_IN_DISCIPLINE,
                    f"{act_name} is not part of a {provider.discipline_name.lower()}'s scope "
                    "of practice.",
                    code,
                )
            ]
        if not rule.allowed:
            return [
                ScopeReason(
                    FORBIDDEN_IN_JURISDICTION,
                    f"In {jurisdiction}, a {provider.discipline_name.lower()} may not perform "
                    f"{act_name.lower()}.",
                    code,
                )
            ]
        kinds = self._requirements.get(provider.discipline_id, ALL_KINDS)
        of_kind = [c for c in provider.credentials if c.kind in kinds]
        here = [c for c in of_kind if c.jurisdiction in ("", jurisdiction)]
        current = [c for c in here if c.status == Credential.Status.ACTIVE and _in_date(c, on)]
        reasons: list[ScopeReason] = []
        if not current:
            reasons += self._credential_reasons(provider, kinds, of_kind, here, location, on)
        endorsed_now = any(act_id in c.endorsements for c in current)
        # An endorsed but lapsed credential is already explained by its own reasons.
        endorsed_lapsed = not current and any(act_id in c.endorsements for c in here)
        if rule.requires_endorsement and not endorsed_now and not endorsed_lapsed:
            reasons.append(
                ScopeReason(
                    ENDORSEMENT_MISSING,
                    f"{act_name} needs an endorsement on a current credential valid in "
                    f"{jurisdiction}; {provider.name} has none.",
                    code,
                )
            )
        return reasons

    def _credential_reasons(
        self,
        provider: _Provider,
        kinds: frozenset[str],
        of_kind: list[_Credential],
        here: list[_Credential],
        location,
        on: date,
    ) -> list[ScopeReason]:
        jurisdiction = self.jurisdiction
        if not of_kind:
            return [
                ScopeReason(
                    NO_CREDENTIAL,
                    f"{provider.name} holds no {_kinds_label(kinds)}; a "
                    f"{provider.discipline_name.lower()} needs one to practise in {jurisdiction}.",
                )
            ]
        if not here:
            elsewhere = ", ".join(sorted({c.jurisdiction for c in of_kind}))
            return [
                ScopeReason(
                    CREDENTIAL_OTHER_JURISDICTION,
                    f"{provider.name}'s {_kinds_label({c.kind for c in of_kind})} is for "
                    f"{elsewhere}; care at {location.name} is judged in {jurisdiction}.",
                )
            ]
        reasons = []
        zone = location.timezone
        for c in here:
            if c.status == Credential.Status.SUSPENDED:
                reasons.append(ScopeReason(CREDENTIAL_SUSPENDED, f"{c.label} is suspended."))
            elif c.status == Credential.Status.REVOKED:
                reasons.append(ScopeReason(CREDENTIAL_REVOKED, f"{c.label} is revoked."))
            if _not_yet_valid(c, on):
                reasons.append(
                    ScopeReason(
                        CREDENTIAL_NOT_YET_VALID,
                        f"{c.label} is valid from {c.valid_from:%Y-%m-%d}; the care is on "
                        f"{on:%Y-%m-%d} ({zone}).",
                    )
                )
            elif _expired(c, on):
                reasons.append(
                    ScopeReason(
                        CREDENTIAL_EXPIRED,
                        f"{c.label} expired at the end of {c.valid_until:%Y-%m-%d}; the care is "
                        f"on {on:%Y-%m-%d} ({zone}).",
                    )
                )
        return reasons


def _not_yet_valid(credential: _Credential, on: date) -> bool:
    return on < credential.valid_from


def _expired(credential: _Credential, on: date) -> bool:
    """Valid until D covers the whole local day D (see the module docstring)."""
    return credential.valid_until is not None and on > credential.valid_until


def _in_date(credential: _Credential, on: date) -> bool:
    # The same two tests that explain a refusal, so a credential is never left out of the
    # current ones without a reason saying why.
    return not _not_yet_valid(credential, on) and not _expired(credential, on)


def load_scope_index(
    provider_ids: Iterable[int], act_codes: Iterable[str] | None, jurisdiction: str
) -> ScopeIndex:
    """Read what scope decisions need for these providers in one jurisdiction: six queries,
    whatever the number of providers or acts. ``act_codes=None`` loads every act."""
    return load_scope_indexes(provider_ids, act_codes, [jurisdiction])[jurisdiction]


def load_scope_indexes(
    provider_ids: Iterable[int], act_codes: Iterable[str] | None, jurisdictions: Iterable[str]
) -> dict[str, ScopeIndex]:
    """One ``ScopeIndex`` per jurisdiction, in the same six queries whatever the number of
    jurisdictions (a list spanning several locations, e.g. the offering admin)."""
    jurisdictions = sorted(set(jurisdictions))
    ids = sorted({int(pk) for pk in provider_ids})
    wanted = None if act_codes is None else frozenset(act_codes)
    act_rows = Act.objects.all() if wanted is None else Act.objects.filter(code__in=wanted)
    acts = {code: (pk, name) for pk, code, name in act_rows.values_list("id", "code", "name")}

    rows = list(
        Provider.objects.filter(pk__in=ids).values_list(
            "id", "display_name", "discipline_id", "discipline__name", "is_active"
        )
    )
    discipline_ids = {row[2] for row in rows}

    rules: dict[str, dict[tuple[int, int], ScopeRule]] = {j: {} for j in jurisdictions}
    rule_rows = ScopeRule.objects.filter(
        discipline_id__in=discipline_ids,
        act_id__in=[pk for pk, _ in acts.values()],
        jurisdiction__in=["", *jurisdictions],
    ).order_by("jurisdiction")  # the default ("") first, so the override replaces it
    for rule in rule_rows:
        for jurisdiction in [rule.jurisdiction] if rule.jurisdiction else jurisdictions:
            rules[jurisdiction][(rule.discipline_id, rule.act_id)] = rule

    requirements: dict[str, dict[int, frozenset[str]]] = {j: {} for j in jurisdictions}
    for requirement in CredentialRequirement.objects.filter(
        discipline_id__in=discipline_ids, jurisdiction__in=["", *jurisdictions]
    ).order_by("jurisdiction"):
        for jurisdiction in (
            [requirement.jurisdiction] if requirement.jurisdiction else jurisdictions
        ):
            requirements[jurisdiction][requirement.discipline_id] = requirement.kinds

    endorsements: dict[int, set[int]] = defaultdict(set)
    through = Credential.endorsements.through.objects.filter(credential__provider_id__in=ids)
    for credential_id, act_id in through.values_list("credential_id", "act_id"):
        endorsements[credential_id].add(act_id)

    credentials: dict[int, list[_Credential]] = defaultdict(list)
    for c in Credential.objects.filter(provider_id__in=ids).order_by("pk"):
        credentials[c.provider_id].append(
            _Credential(
                kind=c.kind,
                label=f"{c.get_kind_display()} {c.number} ({c.jurisdiction or 'any jurisdiction'})",
                jurisdiction=c.jurisdiction,
                valid_from=c.valid_from,
                valid_until=c.valid_until,
                status=c.status,
                endorsements=frozenset(endorsements.get(c.pk, ())),
            )
        )

    providers = {
        pk: _Provider(name, discipline_id, discipline_name, active, tuple(credentials[pk]))
        for pk, name, discipline_id, discipline_name, active in rows
    }
    return {
        j: ScopeIndex(j, wanted, acts, providers, rules[j], requirements[j]) for j in jurisdictions
    }


def _code(act) -> str:
    return act if isinstance(act, str) else act.code


def decide_acts(provider, acts: Iterable, location, at: datetime) -> ScopeDecision:
    """May ``provider`` perform every one of ``acts`` (codes or ``Act`` rows) at ``location``
    at ``at``? All must hold; the reasons cover every act refused."""
    codes = [_code(act) for act in acts]
    index = load_scope_index([provider.pk], codes, location.jurisdiction)
    return index.decide_acts(provider.pk, codes, location, at)


def decide(provider, act, location, at: datetime) -> ScopeDecision:
    """May ``provider`` perform ``act`` (a code or an ``Act``) at ``location`` at ``at``?"""
    return decide_acts(provider, [act], location, at)


def disciplines_for_acts(
    act_ids_by_key: dict[Hashable, set[int]], jurisdiction: str = ""
) -> dict[Hashable, list[str]]:
    """For each key (a service, say), the disciplines whose rules in ``jurisdiction`` (its
    override over the default) allow every one of its acts. An act that needs an endorsement
    counts as allowed: some providers of the discipline hold it. One query."""
    all_acts = set().union(*act_ids_by_key.values()) if act_ids_by_key else set()
    effective: dict[tuple[str, int], bool] = {}
    rules = ScopeRule.objects.filter(act_id__in=all_acts, jurisdiction__in=["", jurisdiction])
    # The default ("") first, so the jurisdiction's override replaces it.
    for code, act_id, allowed in rules.order_by("jurisdiction").values_list(
        "discipline__code", "act_id", "allowed"
    ):
        effective[(code, act_id)] = allowed
    allowed_acts: dict[str, set[int]] = defaultdict(set)
    for (code, act_id), allowed in effective.items():
        if allowed:
            allowed_acts[code].add(act_id)
    return {
        key: sorted(code for code, act_ids in allowed_acts.items() if acts and acts <= act_ids)
        for key, acts in act_ids_by_key.items()
    }
