"""The admin RPCs of prices and alerts."""

from __future__ import annotations

import grpc

from services.budget.admin import alerts
from services.budget.admin.errors import AdminError
from services.budget.admin.prices import import_price_map, list_prices, put_price
from services.budget.admin.rpc import AdminContext, admin_rpc, given
from services.budget.admin.wire import alert_pb, price_pb
from services.budget.prices import PriceInput
from tollgate.v1 import budget_pb2

DEFAULT_ALERTS = 50


class CatalogueRpcs:
    admin: AdminContext

    @admin_rpc
    def SetPrice(
        self, request: budget_pb2.SetPriceRequest, context: grpc.ServicerContext
    ) -> budget_pb2.PriceVersion:
        wanted = PriceInput(
            model=request.model,
            input=request.input,
            output=request.output,
            cached_input=given(request, "cached_input"),
            currency=given(request, "currency"),
            max_output_tokens=given(request, "max_output_tokens"),
            cache_write_input=given(request, "cache_write_input"),
            batch_input=given(request, "batch_input"),
            batch_output=given(request, "batch_output"),
            batch_cached_input=given(request, "batch_cached_input"),
        )
        return price_pb(put_price(self.admin.engine, wanted))

    @admin_rpc
    def ListPrices(
        self, request: budget_pb2.ListPricesRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ListPricesResponse:
        return budget_pb2.ListPricesResponse(
            prices=[price_pb(p) for p in list_prices(self.admin.engine)]
        )

    @admin_rpc
    def ImportPrices(
        self, request: budget_pb2.ImportPricesRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ImportPricesResponse:
        changes, unchanged, skipped = import_price_map(
            self.admin.engine, request.price_map, request.providers, dry_run=request.dry_run
        )
        return budget_pb2.ImportPricesResponse(
            changes=[
                budget_pb2.PriceChange(
                    after=price_pb(c.after), before=price_pb(c.before) if c.before else None
                )
                for c in changes
            ],
            unchanged=unchanged,
            skipped=skipped,
        )

    @admin_rpc
    def ListAlerts(
        self, request: budget_pb2.ListAlertsRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ListAlertsResponse:
        limit = request.limit or DEFAULT_ALERTS
        if not 1 <= limit <= 1000:
            raise AdminError("'limit' must be a whole number from 1 to 1000", "limit")
        shown = alerts.list_alerts(self.admin.engine, given(request, "project"), limit)
        return budget_pb2.ListAlertsResponse(alerts=[alert_pb(a) for a in shown])

    @admin_rpc
    def ListWebhooks(
        self, request: budget_pb2.ListWebhooksRequest, context: grpc.ServicerContext
    ) -> budget_pb2.ListWebhooksResponse:
        hooks = alerts.webhooks(self.admin.alert_settings())
        return budget_pb2.ListWebhooksResponse(webhooks=[budget_pb2.Webhook(**h) for h in hooks])

    @admin_rpc
    def TestAlert(
        self, request: budget_pb2.TestAlertRequest, context: grpc.ServicerContext
    ) -> budget_pb2.TestAlertResponse:
        sent = alerts.send_test_alert(
            self.admin.engine, self.admin.alert_settings(), given(request, "project")
        )
        return budget_pb2.TestAlertResponse(alert=alert_pb(sent))
