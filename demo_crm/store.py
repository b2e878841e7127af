"""The demo CRM's records as plain data, held in memory with the indexes the APIs need.

Records look like HubSpot's objects with every property filled in:
`{id, properties, createdAt, updatedAt, archived, archivedAt, associations: {type: [ids]}}`.
Tests compute expected KPIs straight from these. Deals also carry their stage history
(`hs_date_entered_<stage>` / `hs_date_exited_<stage>`, see generator/stages.py).

The generator (generator/) builds a `DemoCrm`; the CRM changes through `update`, `create`,
`archive`, `unarchive` and `touch`, or a day of selling at once (`selling.simulate_day`);
`now` is its simulated clock. Nothing here knows which API serves the records.
"""

import bisect
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .catalog import CREATED_PROPERTY, ENGAGEMENT_TYPES, MODIFIED_PROPERTY, STAGE_HISTORY_PROPERTIES
from .clock import iso, parse_instant, to_ms

WRITE_LOG_MAX = 200_000


def new_record(record_id: str, props: dict, created: str, updated: str) -> dict:
    """A live record of any type, linked to nothing yet."""
    return {
        "id": record_id,
        "properties": props,
        "createdAt": created,
        "updatedAt": updated,
        "archived": False,
        "archivedAt": None,
        "associations": {},
    }


@dataclass(eq=False)
class DemoCrm:
    """All demo records. Hold `lock` while reading if another thread may mutate.

    Change records through the methods here: they bump the type's version (search caches and
    indexes key on it) and note the wall-clock write time (search index lag). After editing a
    record in place, call `changed(type, [record])` for search to see it.
    """

    seed: int
    now: datetime
    owners: list[dict]
    pipelines: list[dict]
    objects: dict[str, list[dict]]  # per type, sorted by numeric id
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        self._index = {t: {r["id"]: r for r in recs} for t, recs in self.objects.items()}
        self._property_names: dict[str, set[str]] = {}
        self._versions = dict.fromkeys(self.objects, 0)
        # Archived records per type in id order, so `archived=true` listings seek instead of scan.
        self._archived = {t: [r for r in recs if r["archived"]] for t, recs in self.objects.items()}
        # (version, wall-clock time, record) per write, oldest first: search indexes catch up
        # from it, and search's index lag trails it. A record of None stands for unknown edits.
        self._log: dict[str, list[tuple[int, float, dict | None]]] = {t: [] for t in self.objects}
        self._log_floor = dict.fromkeys(self.objects, 0)  # versions before it were dropped
        self._written_at: dict[str, dict[str, float]] = {t: {} for t in self.objects}
        self._last_id: dict[str, int] = {}
        self.wall_clock = time.time  # when writes happen, for search index lag; tests replace it

    def property_names(self, object_type: str) -> set[str]:
        """Every property the type defines: search may filter on these, others are rejected."""
        names = self._property_names.get(object_type)
        if names is None:
            names = {n for r in self.objects[object_type] for n in r["properties"]}
            if object_type == "deals":
                names.update(STAGE_HISTORY_PROPERTIES)
            self._property_names[object_type] = names
        return names

    def get(self, object_type: str, record_id: str) -> dict | None:
        return self._index[object_type].get(record_id)

    def live(self, object_type: str) -> list[dict]:
        return [r for r in self.objects[object_type] if not r["archived"]]

    def archived_records(self, object_type: str) -> list[dict]:
        """Archived records of a type in id order (do not modify the list)."""
        return self._archived[object_type]

    def version(self, object_type: str) -> int:
        """Goes up on every write to the type; caches of search results key on it."""
        return self._versions[object_type]

    def changed(self, object_type: str, records: Iterable[dict] | None = None) -> None:
        """Note a write: search caches drop, and the records count as just written (index lag).

        Without `records`, search indexes of the type are rebuilt from scratch.
        """
        version = self._versions[object_type] = self._versions[object_type] + 1
        wall = self.wall_clock()
        log, written_at = self._log[object_type], self._written_at[object_type]
        names = self._property_names.get(object_type)
        if records is None:
            log.append((version, wall, None))
        for record in records or ():
            log.append((version, wall, record))
            written_at[record["id"]] = wall
            if names is not None:
                names.update(record["properties"])
        if len(log) > WRITE_LOG_MAX:
            # Indexes that far behind rebuild, and index lag needs only the last seconds.
            del log[: len(log) // 2]
            self._log_floor[object_type] = log[0][0]

    def changes_since(self, object_type: str, version: int) -> list[dict] | None:
        """Records written after `version` (oldest first, repeats kept); None if not known."""
        log = self._log[object_type]
        if version < self._log_floor[object_type]:
            return None
        records = [entry[2] for entry in log[bisect.bisect_right(log, version, key=_version) :]]
        return None if any(r is None for r in records) else records  # type: ignore[return-value]

    def written_at(self, object_type: str, record_id: str) -> float | None:
        """Wall-clock time (`wall_clock()`, i.e. time.time()) of the record's last write, if any."""
        return self._written_at[object_type].get(record_id)

    def recently_written(self, object_type: str, seconds: float) -> set[str]:
        """Ids written less than `seconds` of wall-clock time ago."""
        cutoff = self.wall_clock() - seconds
        ids = set()
        for _version, wall, record in reversed(self._log[object_type]):
            if wall <= cutoff:
                break
            if record is not None:
                ids.add(record["id"])
        return ids

    def update(
        self, object_type: str, record_id: str, properties: dict, at: datetime | None = None
    ) -> dict:
        """Change properties as a CRM user would; bumps the modified time like HubSpot does."""
        with self.lock:
            record = self._index[object_type][record_id]
            stamp = self._stamp(record, at)
            record["properties"].update(properties)
            record["properties"][MODIFIED_PROPERTY[object_type]] = stamp
            record["updatedAt"] = stamp
            self.changed(object_type, [record])
            return record

    def touch(self, object_type: str, ids: Iterable[str], at: datetime) -> None:
        """Give many records exactly the same modified time `at` (even if earlier than before).

        For tests of many records sharing one millisecond; nothing else changes.
        """
        stamp = iso(to_ms(at))
        modified = MODIFIED_PROPERTY[object_type]
        with self.lock:
            records = [self._index[object_type][i] for i in ids]
            for record in records:
                record["properties"][modified] = record["updatedAt"] = stamp
            self.changed(object_type, records)

    def archive(self, object_type: str, record_id: str, at: datetime | None = None) -> dict:
        """Delete a record the HubSpot way: it moves to `archived=true` listings."""
        with self.lock:
            record = self.update(object_type, record_id, {}, at)
            if not record["archived"]:
                bisect.insort(self._archived[object_type], record, key=_numeric_id)
            record["archived"], record["archivedAt"] = True, record["updatedAt"]
            return record

    def unarchive(self, object_type: str, record_id: str, at: datetime | None = None) -> dict:
        """Restore an archived record (HubSpot's restore): live again, with a new modified time."""
        with self.lock:
            record = self._index[object_type][record_id]
            if record["archived"]:
                archived = self._archived[object_type]
                del archived[bisect.bisect_left(archived, int(record_id), key=_numeric_id)]
                record["archived"], record["archivedAt"] = False, None
            return self.update(object_type, record_id, {}, at)

    def create(
        self,
        object_type: str,
        properties: dict,
        associations: dict[str, list[str]] | None = None,
        at: datetime | None = None,
        id_step: int = 1,
    ) -> dict:
        """Add a record with the next id (plus `id_step - 1`); associations are stored both ways."""
        with self.lock:
            new_id = self._next_id(object_type, id_step)
            stamp = iso(to_ms(at or datetime.now(UTC)))
            props = dict(properties)
            props[CREATED_PROPERTY[object_type]] = stamp
            props[MODIFIED_PROPERTY[object_type]] = stamp
            props["hs_object_id"] = new_id
            record = new_record(new_id, props, stamp, stamp)
            self.objects[object_type].append(record)  # the largest id, so still in id order
            self._index[object_type][new_id] = record
            for other_type, ids in (associations or {}).items():
                record["associations"][other_type] = sorted(ids, key=int)
                for other_id in ids:
                    links = self._index[other_type][other_id]["associations"]
                    links.setdefault(object_type, []).append(new_id)
            self.changed(object_type, [record])
            return record

    def _next_id(self, object_type: str, step: int) -> str:
        # Engagements share one id space, as in HubSpot.
        space = ENGAGEMENT_TYPES if object_type in ENGAGEMENT_TYPES else (object_type,)
        key = space[0]
        last = self._last_id.get(key)
        if last is None:
            last = max(
                (int(self.objects[t][-1]["id"]) for t in space if self.objects[t]), default=1000
            )
        self._last_id[key] = last + max(1, step)
        return str(last + max(1, step))

    def _stamp(self, record: dict, at: datetime | None) -> str:
        # Never move the modified time backwards, even if the caller's clock does.
        wanted = to_ms(at or datetime.now(UTC))
        previous = parse_instant(record["updatedAt"]) or 0
        return iso(max(wanted, previous + 1))


def _numeric_id(record: dict) -> int:
    return int(record["id"])


def _version(entry: tuple) -> int:
    return entry[0]
