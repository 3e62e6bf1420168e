"""Token exchange: POST username + password for a token, DELETE to revoke it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import ApiToken
from helpdesk.lib.api import StrictFieldsMixin
from helpdesk.lib.drf import django_request
from helpdesk.monitoring.security.events import publish_for

if TYPE_CHECKING:
    from rest_framework.permissions import _SupportsHasPermission

logger = logging.getLogger(__name__)


class TokenRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class TokenView(APIView):
    """Exchange credentials for an API token (POST) or revoke the presented token (DELETE)."""

    def _is_post(self) -> bool:
        # The schema generator asks before a request exists.
        return getattr(getattr(self, "request", None), "method", None) == "POST"

    def get_permissions(self) -> Sequence[_SupportsHasPermission]:
        if self._is_post():
            return [AllowAny()]
        return super().get_permissions()

    def get_authenticators(self) -> list[BaseAuthentication]:
        # POST takes credentials in the body only: a stale session must not turn it into a
        # CSRF-checked request.
        if self._is_post():
            return []
        return super().get_authenticators()

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            201: inline_serializer(
                "TokenResponse",
                {
                    "token": serializers.CharField(),
                    "expires_at": serializers.DateTimeField(allow_null=True),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            django_request(request),
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None:
            return Response(
                {"detail": "Invalid username or password."}, status=status.HTTP_400_BAD_REQUEST
            )
        # A token exchange is a login: the same signal as a session login (last_login, the
        # security events and the lockout's success path).
        user_logged_in.send(sender=user.__class__, request=django_request(request), user=user)
        token, raw = ApiToken.issue(user, data.validated_data.get("name", ""))
        publish_for(
            django_request(request), "authn_token_created", user_id=user.pk, object_id=token.pk
        )
        return Response(
            {"token": raw, "expires_at": token.expires_at}, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            return Response(
                {"detail": "Send the token to revoke in the Authorization header."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        token_pk = request.auth.pk
        request.auth.delete()
        publish_for(
            django_request(request),
            "authn_token_revoked",
            user_id=request.user.pk,
            object_id=token_pk,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
