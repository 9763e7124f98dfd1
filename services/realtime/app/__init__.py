"""The realtime service: pushes committed helpdesk events to connected dashboards over Socket.IO."""
