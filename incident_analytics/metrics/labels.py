"""Label statistics: per (key, value) counts and time to resolve; co-occurrence of labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from ._common import TimeLike, require_columns, resolve_as_of, without_drills
from ._groups import anchors_of, check_incidents, relevant, ttr_table

__all__ = ["COOCCURRENCE_METRICS", "label_cooccurrence", "label_name", "label_stats"]

COOCCURRENCE_METRICS = ("count", "jaccard", "lift")
_STRING = pd.StringDtype("pyarrow")


def label_name(key: object, value: object) -> str:
    """How a label is shown: ``"key:value"``, or just the value for free-form tags (key ``"tags"``)."""
    return str(value) if key == "tags" else f"{key}:{value}"


def _strings(series: pd.Series) -> pa.Array:
    """A column as one Arrow string array (zero-copy for Arrow-backed strings)."""
    array = pa.array(series, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.string())


def label_stats(
    labels: pd.DataFrame, incidents: pd.DataFrame, *, as_of: TimeLike = None, include_drills: bool = False
) -> pd.DataFrame:
    """Per label (key, value): how often, how long to resolve, since when.

    Columns: ``key, value, incidents`` (distinct incidents carrying it), ``share`` (``incidents`` /
    all counted incidents, so shares of one key can sum above 1 when incidents carry two values),
    ``n_open`` (still open), ``median`` (median TTR of its resolved incidents with a positive
    duration, ``pd.Timedelta``; NaT when none), ``first_seen`` and ``last_seen`` (earliest and latest
    start of impact). Sorted by ``incidents``, most frequent first.

    TTR and start as in `time_to_resolve` (start = ``incident_start`` else ``created_time``; end =
    ``incident_end`` else ``closed_time``). Drills are excluded unless ``include_drills=True``; label
    rows of incidents not in ``incidents`` (or drills) are ignored; a label repeated on one incident
    counts once. ``result.attrs["anchors"]`` holds the rules and ``as_of``.

    >>> label_stats(data.labels, data.incidents).head()  # doctest: +SKIP
    """
    require_columns(labels, ("incident_id", "key", "value"), frame_name="labels", function="label_stats")
    check_incidents(incidents, "label_stats", include_drills)
    stamp = resolve_as_of(as_of)
    table = ttr_table(without_drills(relevant(incidents), include_drills), stamp).reset_index(drop=True)
    # Integer codes throughout: an Arrow hash lookup of each label's incident (the first row with that ID,
    # so an incident listed twice counts once), then integer keys; no Python object per row.
    table_ids, label_ids = _strings(table["incident_id"]), _strings(labels["incident_id"])
    found = pc.index_in(pa.concat_arrays([table_ids, label_ids]), value_set=table_ids)
    found = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    total = int((found[: len(table)] == np.arange(len(table))).sum())  # distinct incidents
    rows = found[len(table) :]
    key_codes, keys = pd.factorize(labels["key"])
    value_codes, values = pd.factorize(labels["value"])
    known = (rows >= 0) & (key_codes >= 0) & (value_codes >= 0)
    # One integer per (incident, key, value): repeated labels count once.
    label_code = key_codes[known].astype(np.int64) * max(len(values), 1) + value_codes[known]
    combined = rows[known] * (max(len(keys), 1) * max(len(values), 1)) + label_code
    first = ~pd.Series(combined).duplicated().to_numpy()
    pairs = pd.DataFrame({"row": rows[known][first], "label": label_code[first]})
    row = pairs["row"].to_numpy()
    seconds = table["duration"].dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
    resolved = table["resolved"].to_numpy(dtype=bool)
    good = np.nan_to_num(seconds, nan=0.0) > 0
    start = table["start"].dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    pairs["open"] = ~resolved[row] & good[row]
    pairs["ttr"] = np.where(resolved[row] & good[row], seconds[row], np.nan)
    pairs["start"] = start[row]
    out = (
        pairs.groupby("label", sort=False)
        .agg(
            incidents=("row", "size"),
            n_open=("open", "sum"),
            median=("ttr", "median"),
            first_seen=("start", "min"),
            last_seen=("start", "max"),
        )
        .reset_index()
    )
    key_of, value_of = np.divmod(out["label"].to_numpy(), max(len(values), 1))
    result = pd.DataFrame(
        {
            "key": pd.array(np.asarray(keys, dtype=object)[key_of], dtype=_STRING),
            "value": pd.array(np.asarray(values, dtype=object)[value_of], dtype=_STRING),
            "incidents": out["incidents"].to_numpy(dtype=np.int64),
            "share": out["incidents"].to_numpy(dtype=float) / total if total else np.nan,
            "n_open": out["n_open"].to_numpy(dtype=np.int64),
            "median": pd.to_timedelta(out["median"].to_numpy(dtype=float), unit="s"),
            "first_seen": pd.to_datetime(out["first_seen"]).dt.tz_localize("UTC"),
            "last_seen": pd.to_datetime(out["last_seen"]).dt.tz_localize("UTC"),
        }
    )
    result = result.sort_values(["incidents", "key", "value"], ascending=[False, True, True], kind="stable")
    result = result.reset_index(drop=True)
    result.attrs["anchors"] = anchors_of(table, stamp, include_drills).as_dict()
    return result


def label_cooccurrence(
    labels: pd.DataFrame,
    *,
    keys: Sequence[str] | None = None,
    metric: str = "count",
    incidents: pd.DataFrame | None = None,
    include_drills: bool = False,
) -> pd.DataFrame:
    """How often labels appear together on one incident: a square frame, labels on both axes.

    Labels are named ``"key:value"`` (free-form tags by their value alone), sorted by key then value;
    ``keys`` keeps only labels of those keys. With A, B the sets of incidents carrying each label and
    N the incidents counted:

    * ``"count"``: |A and B| (the diagonal is each label's incident count);
    * ``"jaccard"``: |A and B| / |A or B| (incidents with either) (1 on the diagonal);
    * ``"lift"``: P(A and B) / (P(A) P(B)) = |A and B| N / (|A| |B|): 1 when independent, above 1 when
      they go together more than chance.

    N is the number of distinct incidents in ``labels``, or, when ``incidents`` is given, the
    incidents of that frame (drills excluded unless ``include_drills=True``; label rows of other
    incidents ignored). A label repeated on one incident counts once.

    >>> label_cooccurrence(data.labels, keys=["team", "tags"], metric="lift")  # doctest: +SKIP
    """
    require_columns(labels, ("incident_id", "key", "value"), frame_name="labels", function="label_cooccurrence")
    if metric not in COOCCURRENCE_METRICS:
        raise ValueError(f"metric must be one of {', '.join(COOCCURRENCE_METRICS)}; got {metric!r}")
    frame = labels[["incident_id", "key", "value"]].dropna()
    if incidents is not None:
        require_columns(
            incidents,
            ["incident_id"] + ([] if include_drills else ["is_drill"]),
            frame_name="incidents",
            function="label_cooccurrence",
        )
        kept = without_drills(incidents, include_drills)["incident_id"].astype(object)
        frame = frame[frame["incident_id"].astype(object).isin(set(kept))]
        n_total = int(kept.nunique())
    if keys is not None:
        wanted = [keys] if isinstance(keys, str) else list(keys)
        frame = frame[frame["key"].astype(object).isin(wanted)]
    frame = frame.drop_duplicates()
    names = [label_name(k, v) for k, v in zip(frame["key"].astype(object), frame["value"].astype(object), strict=True)]
    order = (
        pd.DataFrame({"key": frame["key"].astype(object), "value": frame["value"].astype(object), "name": names})
        .drop_duplicates("name")
        .sort_values(["key", "value"])["name"]
        .tolist()
    )
    if incidents is None:
        n_total = int(frame["incident_id"].nunique())
    label_codes = pd.Index(order).get_indexer(names)
    incident_codes, _ = pd.factorize(frame["incident_id"].astype(object))
    matrix = sparse.csr_matrix(
        (np.ones(len(frame), dtype=np.int64), (incident_codes, label_codes)),
        shape=(int(incident_codes.max()) + 1 if len(frame) else 0, len(order)),
    )
    counts = np.asarray((matrix.T @ matrix).toarray(), dtype=np.int64)
    single = np.diag(counts).astype(float)
    values: np.ndarray
    if metric == "count":
        values = counts
    elif metric == "jaccard":
        union = single[:, None] + single[None, :] - counts
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(union > 0, counts / union, 0.0)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            values = counts * n_total / np.outer(single, single)
    result = pd.DataFrame(values, index=pd.Index(order, name="label"), columns=pd.Index(order, name="label"))
    result.attrs["metric"] = metric
    result.attrs["n_incidents"] = n_total
    return result
