"""What every page shares: the settings of this deployment and the data freshness."""

from __future__ import annotations

import streamlit as st

from tvmdata import demo, store
from tvmdata.config import load_settings
from tvmdata.errors import TvmError


@st.cache_resource
def current_settings():
    return demo.settings_for_dashboard(load_settings())


def settings_or_stop():
    """The settings, or one plain error line and an empty page."""
    try:
        return current_settings()
    except TvmError as exc:
        st.error(str(exc))
        st.stop()


def sync_status_or_stop(settings) -> dict:
    try:
        return store.load_sync_status(settings)
    except TvmError as exc:
        st.error(str(exc))
        st.stop()
