"""The org's rows per sObject, dressed once and kept current from the store's change log.

A benchmark org holds ~250,000 records and syncs page through all of them, so rows are never
re-dressed per request: each table remembers the store version it has seen per source type
and re-dresses only what `DemoCrm.changes_since` reports (everything again only if the log no
longer reaches back). Rows are replaced, never edited, so a query's result list is a snapshot.
"""

from collections.abc import Callable
from datetime import datetime

from ..clock import iso, to_ms
from ..store import DemoCrm
from .dressing import Dresser
from .ids import KEY_PREFIXES
from .schema import SObjectSpec, sobject_specs

Dress = Callable[[dict], list[dict]]
# Store types that hold deletable records, for the recycle bin.
_DELETABLE = ("deals", "calls", "emails", "tasks", "meetings", "companies")


class Table:
    """One sObject's rows, dressed from one or more store types."""

    def __init__(self, crm: DemoCrm, sources: dict[str, Dress], purged: dict[str, set]) -> None:
        self.crm, self.sources, self.purged = crm, sources, purged
        self.rows: dict[str, dict] = {}
        self._ids_by_record: dict[tuple[str, str], list[str]] = {}
        self._seen = dict.fromkeys(sources, -1)
        self._order: list[str] = []
        self._listing: list[dict] | None = None

    def listing(self) -> list[dict]:
        """Every row (deleted ones too) in Id order; call with the store's lock held."""
        self.refresh()
        if self._listing is None:
            self._listing = [self.rows[i] for i in self._order]
        return self._listing

    def refresh(self) -> None:
        reordered = False
        for object_type in self.sources:
            version = self.crm.version(object_type)
            seen = self._seen[object_type]
            if version == seen:
                continue
            changed = self.crm.changes_since(object_type, seen) if seen >= 0 else None
            if changed is None:
                records = self.crm.objects[object_type]
                for key in [k for k in self._ids_by_record if k[0] == object_type]:
                    for row_id in self._ids_by_record.pop(key):
                        del self.rows[row_id]
                reordered = True
            else:
                records = list({r["id"]: r for r in changed}.values())
            for record in records:
                reordered |= self.redress(object_type, record, resort=False)
            self._seen[object_type] = version
            self._listing = None
        if reordered:
            self._order = sorted(self.rows)

    def redress(self, object_type: str, record: dict, resort: bool = True) -> bool:
        """Dress one record again; True if the set of row ids changed."""
        key = (object_type, record["id"])
        old = self._ids_by_record.pop(key, [])
        for row_id in old:
            del self.rows[row_id]
        rows = [] if record["id"] in self.purged[object_type] else self.sources[object_type](record)
        for row in rows:
            self.rows[row["Id"]] = row
        if rows:
            self._ids_by_record[key] = [row["Id"] for row in rows]
        self._listing = None
        changed = [r["Id"] for r in rows] != old
        if changed and resort:
            self._order = sorted(self.rows)
        return changed


class Org:
    """Every sObject the org serves, its rows, and lookups by id (for relationship fields)."""

    def __init__(self, crm: DemoCrm, multi_currency: bool = True) -> None:
        self.crm = crm
        self.specs: dict[str, SObjectSpec] = sobject_specs(multi_currency)
        self.dresser = dresser = Dresser(crm, multi_currency)
        self.purged: dict[str, set[str]] = {t: set() for t in _DELETABLE}
        self._reference = dresser.reference
        self._tables = {
            "Opportunity": self._table({"deals": dresser.opportunity}),
            "OpportunityHistory": self._table({"deals": dresser.opportunity_history}),
            "Task": self._table(
                {
                    "calls": lambda r: dresser.task(r, "calls"),
                    "emails": lambda r: dresser.task(r, "emails"),
                    "tasks": lambda r: dresser.task(r, "tasks"),
                    "companies": dresser.queue_task,
                }
            ),
            "Event": self._table({"meetings": dresser.event}),
            "Account": self._table({"companies": dresser.account}),
        }
        self._by_prefix = {KEY_PREFIXES[name]: name for name in self.specs}
        self._reference_by_id = {
            row["Id"]: row for rows in self._reference.values() for row in rows
        }

    def _table(self, sources: dict[str, Dress]) -> Table:
        return Table(self.crm, sources, self.purged)

    def rows(self, sobject: str) -> list[dict]:
        """All rows of `sobject`, deleted and archived ones included; hold the store's lock."""
        table = self._tables.get(sobject)
        return table.listing() if table is not None else self._reference.get(sobject, [])

    def warm(self) -> None:
        """Dress everything now, so the first query is as fast as the rest."""
        with self.crm.lock:
            for table in self._tables.values():
                table.listing()

    def lookup(self, row_id: str | None) -> dict | None:
        """The row an id points to, of any sObject (Owner.Email, RecordType.Name, ...)."""
        if not row_id:
            return None
        row = self._reference_by_id.get(row_id)
        if row is not None:
            return row
        table = self._tables.get(self._by_prefix.get(row_id[:3], ""))
        if table is None:
            return None
        table.refresh()
        return table.rows.get(row_id)

    def sobject_of(self, row_id: str) -> str | None:
        return self._by_prefix.get(row_id[:3])

    # ---------- changes only the Salesforce side knows

    def override_probability(self, deal_id: str, probability: float | None) -> None:
        """A rep edits one opportunity's Probability (None: back to its stage's); like every
        edit, it moves SystemModstamp, so an incremental sync sees it."""
        with self.crm.lock:
            if probability is None:
                self.dresser.probability_overrides.pop(deal_id, None)
            else:
                self.dresser.probability_overrides[deal_id] = float(probability)
            self.crm.update("deals", deal_id, {})

    def purge(self, older_than: datetime) -> int:
        """Empty the recycle bin of records deleted before `older_than`; returns how many."""
        cutoff = iso(to_ms(older_than))
        count = 0
        with self.crm.lock:
            for object_type in _DELETABLE:
                for record in self.crm.archived_records(object_type):
                    deleted_at = record["archivedAt"] or record["updatedAt"]
                    if record["id"] in self.purged[object_type] or deleted_at >= cutoff:
                        continue
                    self.purged[object_type].add(record["id"])
                    self._redress(object_type, record["id"])
                    count += 1
        return count

    def _redress(self, object_type: str, record_id: str) -> None:
        record = self.crm.get(object_type, record_id)
        if record is None:
            raise KeyError(f"no {object_type} record {record_id}")
        for table in self._tables.values():
            if object_type in table.sources:
                table.refresh()
                table.redress(object_type, record)
