"""Slack incoming webhooks (and Slack-compatible receivers such as Mattermost)."""
