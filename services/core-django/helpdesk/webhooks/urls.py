"""Routes under /api/v1/ (included by config/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from helpdesk.webhooks import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/", api.EndpointListCreateApi.as_view(), name="webhook-list"),
    path("webhooks/event-types", api.EventTypesApi.as_view(), name="webhook-event-types"),
    path("webhooks/<int:endpoint_id>/", api.EndpointDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret",
        api.EndpointRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<int:endpoint_id>/enable", api.EndpointEnableApi.as_view(), name="webhook-enable"
    ),
    path("webhooks/<int:endpoint_id>/ping", api.EndpointPingApi.as_view(), name="webhook-ping"),
    path(
        "webhooks/<int:endpoint_id>/deliveries/",
        api.DeliveryListApi.as_view(),
        name="webhook-delivery-list",
    ),
    path(
        "webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/",
        api.DeliveryDetailApi.as_view(),
        name="webhook-delivery-detail",
    ),
    path(
        "webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/replay",
        api.DeliveryReplayApi.as_view(),
        name="webhook-delivery-replay",
    ),
]
