"""What the side panel shows for a clicked node, edge or community (plain JSON, computed by the
kernel from the whole index, so the page only carries short descriptions)."""

from __future__ import annotations

import pandas as pd

from .data import NO_COMMUNITY, Graph, clip, ids_of
from .draw import num


def _text_unit_items(g: Graph, ids: list[str], limit: int = 6) -> list[dict]:
    if g.text_units is None or "id" not in g.text_units or not ids:
        return [{"label": "", "text": f"{len(ids)} text unit(s)"}] if ids else []
    tu = g.text_units.drop_duplicates("id").set_index("id")
    items = [{"label": f"#{tu.at[i, 'human_readable_id']}" if "human_readable_id" in tu else "",
              "text": clip(" ".join(str(tu.at[i, "text"]).split()), 220) if "text" in tu else ""}
             for i in ids[:limit] if i in tu.index]
    if len(ids) > limit:
        items.append({"label": "", "text": f"… and {len(ids) - limit} more"})
    return items


def details(g: Graph, sel: str, editable: bool = False) -> dict:
    """The panel for ``sel`` (an entity id, a relationship id or ``c:<community>``);
    ``editable`` adds the corrections the index can make (rename, merge)."""
    if sel.startswith("c:") and sel[2:].lstrip("-").isdigit():
        return _community(g, int(sel[2:]), sel)
    if sel in g.row:
        out = _entity(g, sel)
        if editable and not g.entities.iloc[g.row[sel]]["mention"]:
            out["actions"] += [["rename", "Rename…"], ["pick", "Pick for merge"]]
        return out
    hit = g.relationships[g.relationships["id"] == sel]
    if len(hit):
        x = hit.iloc[0]
        units = ids_of(x["text_unit_ids"])
        w = num(x["weight"])
        return {"id": sel, "title": f"{x['source']} — {x['target']}",
                "badges": [f"weight {w:g}" if w is not None else f"weight {x['weight']}"],
                "sections": [{"heading": "Description", "text": str(x["description"] or "")},
                             {"heading": f"Source text units ({len(units)})",
                              "items": _text_unit_items(g, units)}],
                "actions": []}
    return {}


def _community(g: Graph, cid: int, sel: str) -> dict:
    if cid not in g.comm.index:
        n = len(g.members(NO_COMMUNITY))
        return {"id": sel, "title": "Unclustered entities", "badges": [f"{n} entities"],
                "sections": [{"heading": "Summary", "text": "Entities that no community "
                              "contains (for example ones without relationships)."}],
                "actions": [["drill", "Open"]]}
    c = g.comm.loc[cid]
    top = g.entities.set_index("id").loc[c["members"]].nlargest(8, "degree")
    return {"id": sel, "title": c["title"],
            "badges": [f"level {c['level']}", f"{len(c['members'])} entities"]
            + ([f"rank {c['rank']:g}"] if pd.notna(c["rank"]) else []),
            "sections": [{"heading": "Summary", "text": c["summary"]},
                         {"heading": "Top entities", "items": [
                             {"label": r.title, "text": str(r.type or "")}
                             for r in top.itertuples()]}],
            "actions": [["drill", "Open community"]]}


def _entity(g: Graph, sel: str) -> dict:
    e = g.entities.iloc[g.row[sel]]
    r = g.relationships
    links = r[(r["src"] == sel) | (r["dst"] == sel)].nlargest(10, "w")
    title_of = dict(zip(g.entities["id"], g.entities["title"], strict=True))
    sections = []
    if e["mention"]:
        sections.append({"heading": "Not in the entities table",
                         "text": "Only relationships name it: the index has no entity row "
                                 "(no description, type or communities)."})
    else:
        sections.append({"heading": "Description", "text": str(e["description"] or "")})
    comms = [(lv, int(g.membership(lv).get(sel, NO_COMMUNITY))) for lv in g.levels]
    comms = [(lv, c) for lv, c in comms if c != NO_COMMUNITY and c in g.comm.index]
    if comms:
        sections.append({"heading": "Communities", "items": [
            {"label": f"L{lv}", "text": g.comm.at[c, "title"]} for lv, c in comms]})
    sections.append({"heading": f"Relationships ({int(e['degree'])})", "items": [
        {"label": title_of[x.dst if x.src == sel else x.src], "text": clip(x.description, 160)}
        for x in links.itertuples()]})
    units = ids_of(e["text_unit_ids"])
    sections.append({"heading": f"Source text units ({len(units)})",
                     "items": _text_unit_items(g, units)})
    badges = [b for b in (e["type"], f"degree {e['degree']}") if b]
    if e["mention"]:
        badges.insert(0, "only in relationships")
    return {"id": sel, "title": e["title"], "badges": badges, "sections": sections,
            "actions": [["expand", "Expand neighbourhood"]]}
