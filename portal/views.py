from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.shortcuts import redirect, render
from django_htmx.middleware import HtmxDetails

from subscriptions.selectors import subscription_current_for_user


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def home(request: HtmxHttpRequest):
    return redirect("portal:dashboard")


@login_required
def dashboard(request: HtmxHttpRequest):
    subscription = subscription_current_for_user(request.user)
    return render(request, "portal/dashboard.html", {"subscription": subscription})
