"""Where a reservation (a call's hold on its budgets) stands: the values of
`reservations.state`. Only an OPEN reservation holds money; each of the others ends it."""

from __future__ import annotations

import enum


class ReservationState(enum.StrEnum):
    OPEN = "open"  # authorized, the call not yet settled: its amount is held
    SETTLED = "settled"  # metering priced the call; its cost is committed spend
    RELEASED = "released"  # the call recorded nothing (refused upstream, never ran)
    EXPIRED = "expired"  # nobody settled or released it in time; the sweeper freed it
