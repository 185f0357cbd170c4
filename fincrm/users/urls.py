from fincrm.users.views import account, admin, signin, tokens

app_name = "users"

urlpatterns = [*signin.urlpatterns, *account.urlpatterns, *admin.urlpatterns, *tokens.urlpatterns]
