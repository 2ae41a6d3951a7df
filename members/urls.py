"""Pages of the member roster."""

from django.urls import path

from . import views

app_name = "members"
urlpatterns = [
    path("", views.MemberListView.as_view(), name="list"),
    path("<int:pk>/", views.MemberDetailView.as_view(), name="detail"),
    path("<int:pk>/reveal/<str:field>/", views.MemberRevealView.as_view(), name="reveal"),
    path("<int:pk>/outflow/", views.MemberOutflowView.as_view(), name="outflow"),
    path("<int:pk>/mobility/", views.MobilityUpdateView.as_view(), name="mobility"),
    path("<int:pk>/return/", views.MemberReturnView.as_view(), name="return"),
    path("<int:pk>/transfer/", views.MemberTransferView.as_view(), name="transfer"),
]
