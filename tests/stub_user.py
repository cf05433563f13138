"""`streamlit run` with the signed-in user stubbed at the `st.user` level, for
browser tests of what sign-in shows: every session reads the claims in the
STUB_USER variable (JSON) as `st.user`, as if Microsoft Entra ID had signed the
user in. Used only by tests."""

import json
import os
import sys

import streamlit.user_info as user_info
from streamlit.web import cli

CLAIMS = json.loads(os.environ["STUB_USER"])

user_info._get_user_info = lambda: dict(CLAIMS)

if __name__ == "__main__":
    sys.exit(cli.main())
