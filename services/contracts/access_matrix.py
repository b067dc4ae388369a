"""docs/access.md: the access matrix of services/access.py as the table users read."""

from __future__ import annotations

from services.access import MATRIX, PEOPLE_ROLES


def markdown() -> str:
    """The matrix as a table, for `docs/access.md`."""
    header = "| Endpoint | " + " | ".join(r.value.replace("_", " ") for r in PEOPLE_ROLES) + " |"
    lines = [
        "# Who may do what",
        "",
        "Generated from `services/access.py` by `lead docs`; enforced for every request.",
        "",
        "No token or a bad one: 401. A role not marked here: 403. A record outside the",
        "caller's scope answers 404, as one that does not exist, so neither answer reveals",
        "whether a person or record exists. Public endpoints need no token.",
        "",
        "Legend: `yes` allowed; `scoped` allowed within the scope noted below the table;",
        "`-` refused (403).",
        "",
        header,
        "|" + "---|" * (len(PEOPLE_ROLES) + 1),
    ]
    notes: list[str] = []
    for (method, path), r in sorted(MATRIX.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cells = []
        for role in PEOPLE_ROLES:
            if r.public:
                cells.append("public")
            elif role in r.scopes:
                cells.append("scoped")
                notes.append(
                    f"- `{method} {path}`, {role.value.replace('_', ' ')}: {r.scopes[role]}"
                )
            else:
                cells.append("yes" if role in r.roles else "-")
        lines.append(f"| `{method} {path}` | " + " | ".join(cells) + " |")
    lines += ["", "## Scopes", "", *notes, ""]
    lines += [
        "## Contact notes",
        "",
        "Contact notes are shown only to the participant's case manager and the project",
        "manager (their supervisor), whatever the consent; no other endpoint or topic",
        "carries them.",
        "",
    ]
    return "\n".join(lines)
