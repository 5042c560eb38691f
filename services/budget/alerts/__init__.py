"""Budget alerts: a threshold crossed by committed spend becomes one alert per budget,
period and threshold (however many replicas see it), delivered to webhooks; spend
spikes alert too, and may pause the keys behind them."""

from services.budget.alerts.events import (
    Crossing,
    crossed,
    record_crossings,
    record_operator_alert,
)
from services.budget.alerts.worker import start_alert_threads

__all__ = [
    "Crossing",
    "crossed",
    "record_crossings",
    "record_operator_alert",
    "start_alert_threads",
]
