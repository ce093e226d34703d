"""The settings area's pages, in the order its nav shows them: accounts has Profile and Account, and
packages above it add theirs (the forum's Notifications) from their init_app."""

SETTINGS_PAGES: list[tuple[str, str]] = [
    ("accounts.edit_profile", "Profile"),
    ("accounts.account_settings", "Account"),
]


def add_settings_page(endpoint: str, label: str) -> None:
    """Add a page to the settings nav once (create_app runs many times in tests)."""
    if (endpoint, label) not in SETTINGS_PAGES:
        SETTINGS_PAGES.append((endpoint, label))


def settings_pages() -> list[tuple[str, str]]:
    return list(SETTINGS_PAGES)
