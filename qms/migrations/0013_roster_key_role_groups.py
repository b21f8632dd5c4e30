from django.db import migrations

# CM-WF-EMERGENCY §13.1 key roles the portal did not have yet (qms.roles.Role.TESTLEAD, Role.OPSLEAD).
NEW_GROUPS = ("Test lead", "Operations lead")


def create(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    for name in NEW_GROUPS:
        group_model.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("qms", "0012_roster_oncall"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
