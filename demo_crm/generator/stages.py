"""Deal stage history as HubSpot keeps it: `hs_date_entered_<stage>`, `hs_date_exited_<stage>`.

A deal entered its first stage at `createdate` and its closed stage at `closedate`; every stage
it left has an exit time equal to the next stage's entry time. Deals only move forward here, but
may skip stages (reps do), and some are created straight into the second stage.
"""

from dataclasses import dataclass

from ..catalog import PIPELINE_STAGES
from ..clock import Dice, iso

START_IN_SECOND_STAGE = 0.15  # deals created past the first stage (e.g. from an inbound demo)
KEEP_STAGE = 0.8  # chance a deal passing by an intermediate stage records it (else skipped)
WON_FROM_LAST_OPEN = 0.7  # won deals mostly got there from the last open stage


@dataclass(frozen=True)
class Pipeline:
    id: str
    open: tuple[str, ...]  # open stage ids in display order
    won: str
    lost: str
    probability: dict[str, str]


def _pipeline(pipeline_id: str) -> Pipeline:
    stages = PIPELINE_STAGES[pipeline_id]
    return Pipeline(
        pipeline_id,
        tuple(s[0] for s in stages if s[2] not in ("1.0", "0.0")),
        next(s[0] for s in stages if s[2] == "1.0"),
        next(s[0] for s in stages if s[2] == "0.0"),
        {s[0]: s[2] for s in stages},
    )


PIPELINES = {pipeline_id: _pipeline(pipeline_id) for pipeline_id in PIPELINE_STAGES}


def entered(stage_id: str) -> str:
    return f"hs_date_entered_{stage_id}"


def exited(stage_id: str) -> str:
    return f"hs_date_exited_{stage_id}"


def _path(rng: Dice, pipeline: Pipeline, last_open: int, closed: str | None) -> list[str]:
    start = min(last_open, 1 if rng.random() < START_IN_SECOND_STAGE else 0)
    between = [s for s in pipeline.open[start + 1 : last_open] if rng.random() < KEEP_STAGE]
    path = [pipeline.open[start], *between]
    if last_open > start:
        path.append(pipeline.open[last_open])
    return path + ([closed] if closed else [])


def add_history(rng: Dice, props: dict, created: int, end: int | None, updated: int) -> None:
    """Stage entry and exit times for a generated deal, ending in its current `dealstage`.

    `end` is the close time of a closed deal; an open deal's last move precedes `updated`.
    """
    pipeline = PIPELINES[props["pipeline"]]
    stage = props["dealstage"]
    if stage in pipeline.open:
        path = _path(rng, pipeline, pipeline.open.index(stage), None)
        last = created + int((updated - created) * rng.uniform(0.3, 1.0))
    else:
        last_open = len(pipeline.open) - 1
        if stage == pipeline.lost or rng.random() >= WON_FROM_LAST_OPEN:
            last_open = rng.randint(0, last_open)
        path = _path(rng, pipeline, last_open, stage)
        last = end if end is not None else updated
    middle = sorted(rng.randint(created, last) for _ in range(len(path) - 2))
    times = [created, *middle, last] if len(path) > 1 else [created]
    for index, stage_id in enumerate(path):
        props[entered(stage_id)] = iso(times[index])
        if index + 1 < len(path):
            props[exited(stage_id)] = iso(times[index + 1])


def set_stage(props: dict, stage_id: str, at: str) -> None:
    """Move a deal to `stage_id` at ISO time `at`, keeping history and closed flags consistent."""
    pipeline = PIPELINES[props["pipeline"]]
    props[exited(props["dealstage"])] = at
    props[entered(stage_id)] = at
    probability = pipeline.probability[stage_id]
    closed = stage_id in (pipeline.won, pipeline.lost)
    props["dealstage"] = stage_id
    props["hs_deal_stage_probability"] = probability
    props["hs_is_closed"] = "true" if closed else "false"
    props["hs_is_closed_won"] = "true" if stage_id == pipeline.won else "false"
    props["hs_is_closed_lost"] = "true" if stage_id == pipeline.lost else "false"
    if closed:
        props["closedate"] = at


def next_stage(rng: Dice, props: dict, close_share: float) -> str | None:
    """Where an open deal moves next: forward (maybe skipping a stage) or closed; None if closed."""
    pipeline = PIPELINES[props["pipeline"]]
    stage = props["dealstage"]
    if stage not in pipeline.open:
        return None
    index = pipeline.open.index(stage)
    if index == len(pipeline.open) - 1 or rng.random() < close_share:
        # Later stages close more often as won; renewals mostly renew.
        base = 0.75 if pipeline.id != "default" else 0.25
        won = rng.random() < base + 0.5 * (1 - base) * index / max(1, len(pipeline.open) - 1)
        return pipeline.won if won else pipeline.lost
    step = 2 if rng.random() < 0.15 else 1
    return pipeline.open[min(index + step, len(pipeline.open) - 1)]


def stage_history(props: dict) -> list[dict]:
    """`propertiesWithHistory.dealstage`: every stage entered, newest first."""
    pipeline = PIPELINES.get(props.get("pipeline") or "")
    if pipeline is None:
        return []
    visits = [
        (props[name], stage_id)
        for stage_id in pipeline.probability
        if props.get(name := entered(stage_id))
    ]
    visits.sort(reverse=True)
    return [{"value": s, "timestamp": t, "sourceType": "CRM_UI"} for t, s in visits]
