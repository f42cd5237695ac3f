"""Two staff groups for the billing admin.

"Billing support" may look at every billing, wallet and portal record and act on none;
"Billing operator" may also run the admin actions that move money or change a
subscription (each action names the permission it needs: see README, "Security").
A staff user is given one of these groups rather than individual permissions.

The permission lists are written out here (a migration is history: it must not change
when the models do).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT = "Billing support"
OPERATOR = "Billing operator"

VIEW = {
    "subscriptions": [
        "view_plan",
        "view_subscription",
        "view_invoice",
        "view_invoiceline",
        "view_overdueinvoice",
        "view_payment",
        "view_overpaidpayment",
        "view_refund",
        "view_webhooklog",
        "view_billingevent",
    ],
    "wallets": ["view_wallet", "view_wallettransaction", "view_topup"],
    "portal": ["view_notification", "view_sentemail"],
}

ACT = {
    "subscriptions": [
        "manage_subscription",
        "void_invoice",
        "mark_invoice_paid_offline",
        "collect_invoice",
        "refund_payment",
        "check_payment",
        "reprocess_webhooklog",
    ],
    "wallets": ["adjust_wallet"],
}


def permissions(apps, *grants):
    """The Permission rows named in ``grants`` (app label -> codenames); all must exist."""
    Permission = apps.get_model("auth", "Permission")
    found = []
    for grant in grants:
        for app, codenames in grant.items():
            rows = list(
                Permission.objects.filter(content_type__app_label=app, codename__in=codenames)
            )
            missing = set(codenames) - {row.codename for row in rows}
            if missing:
                raise LookupError(f"{app} has no permissions {sorted(missing)}")
            found += rows
    return found


def create_groups(apps, schema_editor):
    # Permissions are normally created after migrate (post_migrate); on a fresh database
    # this runs before that, so create any that are missing now. The historical app
    # configs have no models module, which create_permissions takes as "no models".
    for label in ("subscriptions", "wallets", "portal"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    for name, grants in ((SUPPORT, (VIEW,)), (OPERATOR, (VIEW, ACT))):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions(apps, *grants))


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=(SUPPORT, OPERATOR)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("subscriptions", "0006_webhook_body_size_rejected"),
        ("wallets", "0002_refund_reclaim_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
