"""The dashboard's frame: page configuration, navigation and the shared sidebar."""

import streamlit as st

from pages.common import (
    identify_user,
    inside_frame,
    render_failure_banner,
    render_freshness,
    render_group_filter,
    render_identity,
    render_sync_now,
    settings_or_stop,
    start_run,
)

st.set_page_config(
    page_title="Remediation dashboard", page_icon=":material/shield:", layout="wide"
)
# Less room above each page's title and beside the content (Streamlit leaves
# 6 rem and 5 rem), so the Remediation table fits 1440 px beside the sidebar;
# long device-group names wrap in the sidebar's filter instead of being cut.
st.html(
    "<style>"
    "[data-testid='stMainBlockContainer']{padding:3rem 2rem 4rem}"
    "[data-testid='stSidebar'] [data-baseweb='tag']{height:auto;max-width:100%}"
    "[data-testid='stSidebar'] [data-baseweb='tag'] span{white-space:normal}"
    "</style>"
)


def pages_for(actor) -> list:
    """The pages this user may open: Settings for admins only. Without a user
    (closed pages) they are still registered, so that an address keeps its page
    once the reason is gone."""
    return [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/remediation.py", title="Remediation", icon=":material/build:"),
        # Each address is its file's name, so that a page opened directly on
        # a new server is found before the navigation has run once.
        st.Page("pages/device_groups.py", title="Device groups", icon=":material/lan:"),
        st.Page(
            "pages/recommendations.py",
            title="Security recommendations",
            icon=":material/security:",
            url_path="recommendations",
        ),
    ] + ([_settings_page()] if actor and actor.may("settings") else [])


def _settings_page():
    return st.Page(
        "pages/settings.py",
        title="Settings",
        icon=":material/settings:",
        url_path="settings",
    )


start_run()
actor = identify_user()
# Navigation comes before any stop: Streamlit must not fall back to listing
# every file in pages/ (helpers included) as a page.
navigation = st.navigation(pages_for(actor), position="sidebar" if actor else "hidden")
if actor is None:
    st.stop()
settings = settings_or_stop()
render_freshness(settings)
render_sync_now(settings)
render_group_filter(settings)
render_identity(actor)
render_failure_banner(settings)
with inside_frame():
    navigation.run()
